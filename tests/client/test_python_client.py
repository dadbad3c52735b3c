"""Unit tests of the Python client's paged and bounded reads (``Client.iter_tasks``,
``Client.tasks``, ``Client.watch``) against a fake JobService stub: no scheduler, no network.

Run by ctest with PYTHONPATH=<build>/python, where the generated genfarm.v1 stubs and the
client package live.
"""

import unittest

import genfarm
from genfarm.v1 import job_service_pb2
from genfarm.v1 import types_pb2


class FakeJobs:
    """ListTasks over `count` tasks (every third failed), pages of at most `page` tasks,
    tokens "job:next"; WatchJob replays `events`. Records every request."""

    def __init__(self, count=25, page=10, events=()):
        self.count, self.page, self.events = count, page, list(events)
        self.requests = []

    def ListTasks(self, request, timeout=None):
        copy = job_service_pb2.ListTasksRequest()
        copy.CopyFrom(request)
        self.requests.append(copy)
        start = int(request.page_token.split(":")[1]) if request.page_token else 0
        response = job_service_pb2.ListTasksResponse()
        i = start
        while i < self.count and len(response.tasks) < min(self.page, request.page_size):
            state = types_pb2.TASK_STATE_FAILED if i % 3 == 0 else types_pb2.TASK_STATE_QUEUED
            if request.state in (types_pb2.TASK_STATE_UNSPECIFIED, state):
                response.tasks.add(job_id=request.job_id, index=i, stage="upres", state=state,
                                   frames=[i + 1])
            i += 1
        if i < self.count:
            response.next_page_token = f"{request.job_id}:{i}"
        return response

    def WatchJob(self, request, timeout=None):
        return iter(self.events)


def client_with(fake):
    client = genfarm.Client("127.0.0.1:1")
    client._jobs = fake
    return client


def event(state, tasks, truncated):
    e = job_service_pb2.JobEvent(tasks_truncated=truncated)
    e.job.id = 7
    e.job.state = state
    e.job.spec.name = "big"
    e.job.stages.add(name="upres", frames_total=1_000_000, tasks_total=1_000_000)
    for i in tasks:
        e.changed_tasks.add(job_id=7, index=i, stage="upres", state=types_pb2.TASK_STATE_QUEUED)
    return e


class IterTasksTest(unittest.TestCase):
    def test_pages_every_task_in_order_passing_each_token_on(self):
        fake = FakeJobs(count=25, page=10)
        with client_with(fake) as client:
            tasks = list(client.iter_tasks(7))
        self.assertEqual([t.index for t in tasks], list(range(25)))
        self.assertEqual([r.page_token for r in fake.requests], ["", "7:10", "7:20"])
        self.assertTrue(all(r.page_size == 1000 for r in fake.requests))

    def test_filters_on_the_scheduler_by_state_and_stage(self):
        fake = FakeJobs(count=25, page=10)
        with client_with(fake) as client:
            failed = client.tasks(7, failed_only=True)
            client.tasks(7, state="queued", stage="upres")
        self.assertEqual([t.index for t in failed], [0, 3, 6, 9, 12, 15, 18, 21, 24])
        self.assertEqual({t.state for t in failed}, {"failed"})
        self.assertEqual(fake.requests[0].state, types_pb2.TASK_STATE_FAILED)
        self.assertEqual(fake.requests[-1].state, types_pb2.TASK_STATE_QUEUED)
        self.assertEqual(fake.requests[-1].stage, "upres")

    def test_stops_reading_when_the_caller_stops(self):
        fake = FakeJobs(count=1_000_000, page=1000)
        with client_with(fake) as client:
            first = [t for _, t in zip(range(1500), client.iter_tasks(7))]
        self.assertEqual(len(first), 1500)
        self.assertEqual(len(fake.requests), 2)  # not 1000 pages

    def test_an_unknown_state_is_a_value_error(self):
        with client_with(FakeJobs()) as client, self.assertRaises(ValueError):
            list(client.iter_tasks(7, state="lost"))


class WatchTest(unittest.TestCase):
    def test_events_say_when_their_task_list_was_cut(self):
        fake = FakeJobs(events=[event(types_pb2.JOB_STATE_ACTIVE, range(1000), True),
                                event(types_pb2.JOB_STATE_ACTIVE, [3, 4], False),
                                event(types_pb2.JOB_STATE_CANCELED, range(1000), True)])
        with client_with(fake) as client:
            events = list(client.watch(7))
        self.assertEqual([len(e.changed_tasks) for e in events], [1000, 2, 1000])
        self.assertEqual([e.tasks_truncated for e in events], [True, False, True])
        self.assertEqual(events[0].job.frames_total, 1_000_000)
        self.assertTrue(events[-1].job.finished)


if __name__ == "__main__":
    unittest.main()
