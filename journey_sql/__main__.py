from journey_sql.cli import main

main()
