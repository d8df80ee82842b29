"""Jobs: the worker protocol, the job table, executors, the process pool, progress, the services hub and result caching."""
