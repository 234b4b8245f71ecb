from medsign.cli import main

main()
