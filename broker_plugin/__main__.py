from broker_plugin.cli import main

main()
