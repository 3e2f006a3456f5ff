from facedb.cli.main import main

main()
