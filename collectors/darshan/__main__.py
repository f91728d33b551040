import sys

from .collector import main

if __name__ == "__main__":  # a walk of the package imports this module: that must not run the command
    sys.exit(main())
