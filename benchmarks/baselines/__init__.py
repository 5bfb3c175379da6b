"""Small, faithful re-creations of the alternatives gen3widgets is measured against.

* ``docs_loop``: the AI/ML API documentation's sample (POST, then GET every 10 s).
* ``runway_sdk``: Runway's SDK schedule (sleep 6 s ± 1.5 s, then GET, repeat).
* ``naive_grid``: a seed grid done one seed after another with the docs' loop.

Each one records when it first saw the generation completed
(``time.monotonic()``), so the benchmark can compare it with the moment the
simulator finished the job.
"""
