"""Emulated import/export jobs (``POST /jobs/create``, ``GET /jobs``, ``GET|DELETE /jobs/{id}``).

Modules, one job each: ``job_properties`` (request validation), ``storage`` (blob containers: open, validate,
stream), ``identities`` (device keys the twin does not carry), ``export_lines`` (the ``devices.txt`` format),
``import_lines`` (applying one import line), ``jobs`` (job records, quota, workers).
"""

from __future__ import annotations

from airflow_iot_jobs.emulator.iothub.importexport.identities import IdentityStore
from airflow_iot_jobs.emulator.iothub.importexport.jobs import ImportExportJobs
from airflow_iot_jobs.emulator.iothub.importexport.storage import StorageAccount

__all__ = ["IdentityStore", "ImportExportJobs", "StorageAccount"]
