"""Test harnesses: pipelines used as steps, the S3 API server, dbt's table reader.

Not tests themselves. ``tests/conftest.py`` puts this folder on the import path of the test
process and of every process a test starts, so a step is named by its module here, e.g.
``toy_pipeline:step``; scripts that reuse a harness import it the same way.
"""
