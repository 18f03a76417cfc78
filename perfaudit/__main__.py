from perfaudit.cli.app import main

main()
