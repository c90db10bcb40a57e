"""A small tool: reads numbers and prints their mean."""

import sys


def mean(values):
    """Return the arithmetic mean of values."""
    if not values:
        raise ValueError("no values")
    return sum(values) / len(values)


def main(argv):
    nums = [float(a) for a in argv[1:]]
    print(mean(nums))


if __name__ == "__main__":
    main(sys.argv)
