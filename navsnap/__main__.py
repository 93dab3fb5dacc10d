from navsnap.cli import main

main()
