"""The orchestration behind `bench/run`: servers, workloads, tables."""
