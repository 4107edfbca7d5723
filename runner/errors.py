"""User-facing engine errors: each carries a one-line message fit to print as is."""


class BenchsiteError(Exception):
    """Bad input or missing resources; the message is shown to the user verbatim."""


class UnknownBenchmark(BenchsiteError):
    pass


class DataUnavailable(BenchsiteError):
    pass


class ModelLoadError(BenchsiteError):
    pass
