"""GenFarm: submit and follow AI VFX render jobs from Python.

    import genfarm
    farm = genfarm.Client()
    job = farm.submit("shots/sh010/upres.yaml", wait=True)
    print(job.state, job.frames_done, "/", job.frames_total)

The generated protobuf and gRPC modules live in ``genfarm.v1``.
"""

from genfarm.client import (DEFAULT_ADDRESS, Client, GenFarmError, Job, JobEvent,
                            StageProgress, Task)
from genfarm.spec import SpecError, job_spec_from_dict, load_job_spec

__all__ = ["Client", "GenFarmError", "Job", "JobEvent", "SpecError", "StageProgress", "Task",
           "DEFAULT_ADDRESS", "job_spec_from_dict", "load_job_spec"]
