// Fake jobs, tasks and workers for the client output tests, written as protobuf text.
#ifndef GENFARM_TESTS_CLIENT_CLI_FAKE_JOBS_H_
#define GENFARM_TESTS_CLIENT_CLI_FAKE_JOBS_H_

#include <string>

#include "genfarm/v1/types.pb.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace genfarm::client {

template <typename Message>
Message ParseText(const std::string& text) {
  Message message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

// Job 17, two stages: upres 120/240 frames (3 running, 1 failed task), retime 40/240.
// Started at 1'800'000'000 s, still active.
inline v1::Job ActiveJob() {
  return ParseText<v1::Job>(R"pb(
    id: 17
    state: JOB_STATE_ACTIVE
    submit_time_ms: 1799999990000
    start_time_ms: 1800000000000
    spec {
      name: "sh010_upres_retime"
      project: "feature_x"
      shot: "sh010"
      priority: 60
      tier: TIER_BATCH
      submitter: "jdoe"
      stages { name: "upres" output: "/shots/sh010/up/up.####.exr" }
      stages { name: "retime" output: "/shots/sh010/rt/rt.####.exr" }
    }
    stages {
      name: "upres"
      frames_total: 240
      frames_done: 120
      tasks_total: 30
      tasks_by_state { key: "succeeded" value: 15 }
      tasks_by_state { key: "running" value: 3 }
      tasks_by_state { key: "queued" value: 11 }
      tasks_by_state { key: "failed" value: 1 }
    }
    stages {
      name: "retime"
      frames_total: 240
      frames_done: 40
      tasks_total: 30
      tasks_by_state { key: "succeeded" value: 5 }
      tasks_by_state { key: "blocked" value: 25 }
    }
  )pb");
}

// ActiveJob, ended failed 192 s after it started, with all frames but upres' failed task done.
inline v1::Job FailedJob() {
  v1::Job job = ActiveJob();
  job.set_state(v1::JOB_STATE_FAILED);
  job.set_end_time_ms(1800000192000);
  job.set_message("1 task failed");
  job.mutable_stages(0)->set_frames_done(232);
  (*job.mutable_stages(0)->mutable_tasks_by_state())["running"] = 0;
  job.mutable_stages(1)->set_frames_done(240);
  return job;
}

// Task 7 failed on its third attempt (2 of its 8 frames written); task 12 cannot be placed.
inline std::vector<v1::Task> SomeTasks() {
  return {
      ParseText<v1::Task>(R"pb(
        job_id: 17
        index: 3
        stage: "upres"
        state: TASK_STATE_SUCCEEDED
        frames: [ 1025, 1026, 1027, 1028, 1029, 1030, 1031, 1032 ]
        attempts: 1
        frames_done: 8
      )pb"),
      ParseText<v1::Task>(R"pb(
        job_id: 17
        index: 7
        stage: "upres"
        state: TASK_STATE_FAILED
        frames: [ 1057, 1058, 1059, 1060, 1061, 1062, 1063, 1064 ]
        attempts: 3
        frames_done: 2
        worker: "gpu04"
        failure_reason: FAILURE_REASON_INPUT_MISSING
        message: "frame 1059: input /shots/sh010/plate.1059.exr not found"
      )pb"),
      ParseText<v1::Task>(R"pb(
        job_id: 17
        index: 12
        stage: "upres"
        state: TASK_STATE_QUEUED
        frames: [ 1097, 1098 ]
        message: "no worker has 24.0GiB free VRAM (largest: gpu02 16.0GiB)"
      )pb"),
  };
}

}  // namespace genfarm::client

#endif  // GENFARM_TESTS_CLIENT_CLI_FAKE_JOBS_H_
