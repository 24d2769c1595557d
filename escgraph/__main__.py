from escgraph.cli import main

main()
