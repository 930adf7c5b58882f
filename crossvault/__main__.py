from crossvault.cli import main

main()
