"""`python -m devenv`."""

from devenv.cli import main

if __name__ == "__main__":
    main()
