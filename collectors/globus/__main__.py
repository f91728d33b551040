import sys

from .collector import main

# only when run (python -m): importing the package's modules (pkgutil.walk_packages) must not start it
if __name__ == "__main__":
    sys.exit(main())
