"""A scan: config in, results out. The only place that schedules work.

scan.py walks the sources and hands each file to the planner (plan.py), which
answers it from the scan cache or sends it to the worker pool (pool.py,
workerproc.py over frames); a worker runs scanjob.py, which drives one file
through pipeline.py: classify, extract, detect, recursing into children.
With --cluster, cluster.py takes the pool's place on Dask workers.
May import every stage package (cache, sources, extract, images, detect,
triage) and the top-level modules; never cli or report.
"""
