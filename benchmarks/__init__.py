"""Product benchmarks: speed, accuracy tables and the comparison report (run as `python -m benchmarks.NAME`)."""
