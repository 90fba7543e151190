use super::*;

/// Each row: a live object (YAML), the health it must get, and the reason.
const TABLE: &[(&str, HealthStatus, &str)] = &[
    // Generic rules, before any kind's own.
    (
        "{apiVersion: v1, kind: ConfigMap, metadata: {name: c, deletionTimestamp: '2026-01-01T00:00:00Z'}}",
        HealthStatus::Terminating,
        "Resource scheduled for deletion",
    ),
    (
        "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d, generation: 3},
          status: {observedGeneration: 2, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1}}",
        HealthStatus::InProgress,
        "Deployment generation is 3, but latest observed generation is 2",
    ),
    (
        "{apiVersion: example.com/v1, kind: Widget, metadata: {name: w},
          status: {conditions: [{type: Reconciling, status: 'True', reason: Progressing, message: 'applying revision 2'}]}}",
        HealthStatus::InProgress,
        "Progressing: applying revision 2",
    ),
    (
        "{apiVersion: example.com/v1, kind: Widget, metadata: {name: w},
          status: {conditions: [{type: Ready, status: 'True'}, {type: Stalled, status: 'True', reason: BadSpec, message: \"spec.size\\n is negative\"}]}}",
        HealthStatus::Failed,
        "BadSpec: spec.size is negative",
    ),
    // Objects without status.
    (
        "{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: b}}",
        HealthStatus::Current,
        "Resource is current",
    ),
    // Deployment.
    (
        "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d, generation: 1},
          spec: {replicas: 2}, status: {observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2,
          conditions: [{type: Progressing, status: 'True', reason: NewReplicaSetAvailable}, {type: Available, status: 'True'}]}}",
        HealthStatus::Current,
        "Deployment is available. Replicas: 2",
    ),
    (
        "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d}}",
        HealthStatus::InProgress,
        "Replicas: 0/1",
    ),
    (
        "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, spec: {replicas: 3}, status: {replicas: 3, updatedReplicas: 1}}",
        HealthStatus::InProgress,
        "Updated: 1/3",
    ),
    (
        "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, spec: {replicas: 1}, status: {replicas: 2, updatedReplicas: 1}}",
        HealthStatus::InProgress,
        "Pending termination: 1",
    ),
    (
        "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, status: {replicas: 1, updatedReplicas: 1, availableReplicas: 0}}",
        HealthStatus::InProgress,
        "Available: 0/1",
    ),
    (
        "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, status: {replicas: 1, updatedReplicas: 1, availableReplicas: 1, readyReplicas: 0}}",
        HealthStatus::InProgress,
        "Ready: 0/1",
    ),
    (
        "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d},
          status: {replicas: 1, updatedReplicas: 1, availableReplicas: 1, readyReplicas: 1, conditions: [{type: Available, status: 'True'}]}}",
        HealthStatus::InProgress,
        "ReplicaSet not Available",
    ),
    (
        "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d},
          status: {replicas: 1, updatedReplicas: 1, availableReplicas: 1, readyReplicas: 1,
          conditions: [{type: Progressing, status: 'True', reason: NewReplicaSetAvailable}, {type: Available, status: 'False'}]}}",
        HealthStatus::InProgress,
        "Deployment not Available",
    ),
    (
        "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d},
          status: {conditions: [{type: Progressing, status: 'False', reason: ProgressDeadlineExceeded}]}}",
        HealthStatus::Failed,
        "Progress deadline exceeded",
    ),
    // StatefulSet.
    (
        "{apiVersion: apps/v1, kind: StatefulSet, metadata: {name: s}, spec: {updateStrategy: {type: OnDelete}}}",
        HealthStatus::Current,
        "StatefulSet is using the ondelete update strategy",
    ),
    (
        "{apiVersion: apps/v1, kind: StatefulSet, metadata: {name: s}, spec: {replicas: 2}, status: {replicas: 1}}",
        HealthStatus::InProgress,
        "Replicas: 1/2",
    ),
    (
        "{apiVersion: apps/v1, kind: StatefulSet, metadata: {name: s}, status: {replicas: 1, readyReplicas: 0}}",
        HealthStatus::InProgress,
        "Ready: 0/1",
    ),
    (
        "{apiVersion: apps/v1, kind: StatefulSet, metadata: {name: s}, spec: {replicas: 1}, status: {replicas: 2, readyReplicas: 2}}",
        HealthStatus::InProgress,
        "Pending termination: 1",
    ),
    (
        "{apiVersion: apps/v1, kind: StatefulSet, metadata: {name: s},
          spec: {replicas: 3, updateStrategy: {rollingUpdate: {partition: 1}}}, status: {replicas: 3, readyReplicas: 3, updatedReplicas: 1}}",
        HealthStatus::InProgress,
        "Updated: 1/2",
    ),
    (
        "{apiVersion: apps/v1, kind: StatefulSet, metadata: {name: s},
          spec: {replicas: 3, updateStrategy: {rollingUpdate: {partition: 1}}}, status: {replicas: 3, readyReplicas: 3, updatedReplicas: 2}}",
        HealthStatus::Current,
        "Partition rollout complete. Updated: 2",
    ),
    (
        "{apiVersion: apps/v1, kind: StatefulSet, metadata: {name: s}, status: {replicas: 1, readyReplicas: 1, currentReplicas: 0}}",
        HealthStatus::InProgress,
        "Current: 0/1",
    ),
    (
        "{apiVersion: apps/v1, kind: StatefulSet, metadata: {name: s},
          status: {replicas: 1, readyReplicas: 1, currentReplicas: 1, currentRevision: s-1, updateRevision: s-2}}",
        HealthStatus::InProgress,
        "Waiting for updated revision to match current",
    ),
    (
        "{apiVersion: apps/v1, kind: StatefulSet, metadata: {name: s},
          status: {replicas: 1, readyReplicas: 1, currentReplicas: 1, currentRevision: s-2, updateRevision: s-2}}",
        HealthStatus::Current,
        "All replicas scheduled as expected. Replicas: 1",
    ),
    // DaemonSet.
    (
        "{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: ds}}",
        HealthStatus::InProgress,
        "Missing .status.desiredNumberScheduled",
    ),
    (
        "{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: ds}, status: {desiredNumberScheduled: 2, currentNumberScheduled: 1}}",
        HealthStatus::InProgress,
        "Current: 1/2",
    ),
    (
        "{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: ds}, status: {desiredNumberScheduled: 2, currentNumberScheduled: 2, updatedNumberScheduled: 1}}",
        HealthStatus::InProgress,
        "Updated: 1/2",
    ),
    (
        "{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: ds},
          status: {desiredNumberScheduled: 2, currentNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 1}}",
        HealthStatus::InProgress,
        "Available: 1/2",
    ),
    (
        "{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: ds},
          status: {desiredNumberScheduled: 2, currentNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2, numberReady: 1}}",
        HealthStatus::InProgress,
        "Ready: 1/2",
    ),
    (
        "{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: ds},
          status: {desiredNumberScheduled: 2, currentNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2, numberReady: 2}}",
        HealthStatus::Current,
        "All replicas scheduled as expected. Replicas: 2",
    ),
    // ReplicaSet.
    (
        "{apiVersion: apps/v1, kind: ReplicaSet, metadata: {name: r}, status: {conditions: [{type: ReplicaFailure, status: 'True'}]}}",
        HealthStatus::InProgress,
        "Replica Failure condition. Check Pods",
    ),
    (
        "{apiVersion: apps/v1, kind: ReplicaSet, metadata: {name: r}, status: {fullyLabeledReplicas: 0}}",
        HealthStatus::InProgress,
        "Labelled: 0/1",
    ),
    (
        "{apiVersion: apps/v1, kind: ReplicaSet, metadata: {name: r}, spec: {replicas: 2}, status: {fullyLabeledReplicas: 2, availableReplicas: 1}}",
        HealthStatus::InProgress,
        "Available: 1/2",
    ),
    (
        "{apiVersion: apps/v1, kind: ReplicaSet, metadata: {name: r}, status: {fullyLabeledReplicas: 1, availableReplicas: 1, readyReplicas: 0}}",
        HealthStatus::InProgress,
        "Ready: 0/1",
    ),
    (
        "{apiVersion: apps/v1, kind: ReplicaSet, metadata: {name: r},
          status: {replicas: 2, fullyLabeledReplicas: 1, availableReplicas: 1, readyReplicas: 1}}",
        HealthStatus::InProgress,
        "Pending termination: 1",
    ),
    (
        "{apiVersion: apps/v1, kind: ReplicaSet, metadata: {name: r},
          status: {replicas: 1, fullyLabeledReplicas: 1, availableReplicas: 1, readyReplicas: 1}}",
        HealthStatus::Current,
        "ReplicaSet is available. Replicas: 1",
    ),
    // Job.
    (
        "{apiVersion: batch/v1, kind: Job, metadata: {name: j}, spec: {completions: 2},
          status: {succeeded: 2, conditions: [{type: Complete, status: 'True'}]}}",
        HealthStatus::Current,
        "Job Completed. Succeeded: 2/2",
    ),
    (
        "{apiVersion: batch/v1, kind: Job, metadata: {name: j}, status: {failed: 6, conditions: [{type: Failed, status: 'True'}]}}",
        HealthStatus::Failed,
        "Job Failed. Failed: 6/1",
    ),
    (
        "{apiVersion: batch/v1, kind: Job, metadata: {name: j}}",
        HealthStatus::InProgress,
        "Job not started",
    ),
    (
        "{apiVersion: batch/v1, kind: Job, metadata: {name: j}, status: {startTime: '2026-01-01T00:00:00Z', active: 1}}",
        HealthStatus::Current,
        "Job in progress. Succeeded: 0, active: 1, failed: 0",
    ),
    // CustomResourceDefinition.
    (
        "{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: widgets.example.com},
          status: {conditions: [{type: NamesAccepted, status: 'True'}, {type: Established, status: 'True'}]}}",
        HealthStatus::Current,
        "CRD is established",
    ),
    (
        "{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: widgets.example.com},
          status: {conditions: [{type: NamesAccepted, status: 'False', reason: ListKindConflict, message: 'WidgetList is already in use'}]}}",
        HealthStatus::Failed,
        "ListKindConflict: WidgetList is already in use",
    ),
    (
        "{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: widgets.example.com},
          status: {conditions: [{type: Established, status: 'False', reason: Installing}]}}",
        HealthStatus::InProgress,
        "Install in progress",
    ),
    (
        "{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: widgets.example.com},
          status: {conditions: [{type: Established, status: 'False', reason: NotAccepted}]}}",
        HealthStatus::Failed,
        "NotAccepted",
    ),
    // Namespace.
    (
        "{apiVersion: v1, kind: Namespace, metadata: {name: ns1}, status: {phase: Active}}",
        HealthStatus::Current,
        "Namespace is active",
    ),
    (
        "{apiVersion: v1, kind: Namespace, metadata: {name: ns1}, status: {phase: Terminating}}",
        HealthStatus::Terminating,
        "Namespace is terminating",
    ),
    // PersistentVolumeClaim.
    (
        "{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: p}, status: {phase: Bound}}",
        HealthStatus::Current,
        "PVC is Bound",
    ),
    (
        "{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: p}, status: {phase: Pending}}",
        HealthStatus::InProgress,
        "PVC is not Bound. Phase: Pending",
    ),
    (
        "{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: p}, status: {phase: Lost}}",
        HealthStatus::Failed,
        "PVC lost its PersistentVolume",
    ),
    // Service.
    (
        "{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {type: ClusterIP}}",
        HealthStatus::Current,
        "Service is ready",
    ),
    (
        "{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {type: LoadBalancer}, status: {loadBalancer: {}}}",
        HealthStatus::InProgress,
        "LoadBalancer has no ingress yet",
    ),
    (
        "{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {type: LoadBalancer}, status: {loadBalancer: {ingress: [{ip: 192.0.2.1}]}}}",
        HealthStatus::Current,
        "LoadBalancer has ingress",
    ),
    // Everything else: the Ready condition.
    (
        "{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, status: {conditions: [{type: Ready, status: 'True', reason: Succeeded}]}}",
        HealthStatus::Current,
        "Succeeded",
    ),
    (
        "{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, status: {conditions: [{type: Ready, status: 'False', message: waiting for the database}]}}",
        HealthStatus::InProgress,
        "waiting for the database",
    ),
    (
        "{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, status: {conditions: [{type: Ready, status: Unknown}]}}",
        HealthStatus::InProgress,
        "Resource is not Ready",
    ),
    (
        "{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, status: {size: 3}}",
        HealthStatus::Current,
        "Resource is current",
    ),
    // A Deployment of another group is not a Deployment.
    (
        "{apiVersion: example.com/v1, kind: Deployment, metadata: {name: d}}",
        HealthStatus::Current,
        "Resource is current",
    ),
    // What cannot be read.
    (
        "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, status: {readyReplicas: three}}",
        HealthStatus::Unknown,
        "status.readyReplicas is not an integer",
    ),
    (
        "{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, status: ok}",
        HealthStatus::Unknown,
        "status is not a map",
    ),
    (
        "{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, status: {conditions: {type: Ready}}}",
        HealthStatus::Unknown,
        "status.conditions is not a list",
    ),
    ("[1, 2]", HealthStatus::Unknown, "The object is not a map"),
];

#[test]
fn every_rule_gives_its_health_and_reason() {
    let mut wrong = Vec::new();
    for (yaml, status, reason) in TABLE {
        let object: Value = serde_saphyr::from_str(yaml).expect("table rows are YAML");
        let got = health(Some(&object));
        if got.status != *status || got.reason != *reason {
            wrong.push(format!("{yaml}\n  want {status}: {reason}\n  got  {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn an_object_the_wec_does_not_hold_is_not_found() {
    assert_eq!(
        health(None),
        Health {
            status: HealthStatus::NotFound,
            reason: "Resource not found".into()
        }
    );
}

#[test]
fn every_status_is_named_as_kstatus_names_it() {
    let names: Vec<String> = HealthStatus::ALL.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        names,
        [
            "Current",
            "InProgress",
            "Failed",
            "Terminating",
            "NotFound",
            "Unknown"
        ]
    );
    for s in HealthStatus::ALL {
        let json = serde_json::to_value(s).expect("serializes");
        assert_eq!(json, Value::String(s.as_str().into()));
    }
}
