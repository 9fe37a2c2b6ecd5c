from replicator.cli.app import main

main()
