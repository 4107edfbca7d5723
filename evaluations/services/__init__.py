"""Writes of the evaluation domain, one module per concern; import the module you need.

model_entries: register and resolve models · benchmarks: benchmark and suite rows · plans: validate a
run request (RunPlan) and place it · runs: create, submit, cancel, finish runs · shards: claim and
execute a run's chunks · scoring: aggregate stored samples into scores · workers: liveness and sweeps · regressions: a finished
run against its baselines, alerts.
"""
