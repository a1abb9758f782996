from journey_sql.cli.app import main

main()
