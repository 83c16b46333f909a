from samdata.cli import main

main()
