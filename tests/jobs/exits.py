"""Exits with the code given on the command line, after printing its argv."""

import sys

if __name__ == "__main__":
    print("argv:", sys.argv)
    print("path0:", sys.path[0])
    sys.exit(int(sys.argv[1]))
