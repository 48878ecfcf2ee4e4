"""The jobs and apps of ``bench/workers_throughput.py``, for each system measured."""
