//! `orders-ops status`: one screen per pipeline: per stage, its queue's depth,
//! in-flight count and oldest message's age, its DLQ's depth, and the states
//! of its alarms.
//!
//! Depths come from `GetQueueAttributes` (`ApproximateNumberOfMessages`,
//! `ApproximateNumberOfMessagesNotVisible`). SQS has no queue attribute for
//! the age of the oldest message: that is the CloudWatch metric
//! `ApproximateAgeOfOldestMessage`
//! (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html>),
//! read here as the latest one-minute maximum of the last ten minutes, and
//! shown as unknown where CloudWatch has no data (an emulator, a quiet queue).
//! The notifier reads a stream, not a queue; its age is the function's
//! `IteratorAge` when the stack names the function.

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;

use crate::error::{OpsResult, aws};
use crate::render::{Style, Tone, age};
use crate::target::{Alarms, Clients, Target, queue_name};

/// A queue's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatus {
    /// Queue name.
    pub name: String,
    /// Messages available.
    pub visible: u64,
    /// Messages received and not yet deleted.
    pub in_flight: u64,
    /// Age of the oldest message in seconds, where CloudWatch has it.
    pub oldest_age_secs: Option<u64>,
}

/// One alarm's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmStatus {
    /// The template's logical id (`WorkerDlqNotEmptyAlarm`).
    pub logical_id: String,
    /// The alarm's name in CloudWatch.
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
}

/// One stage of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageStatus {
    /// `intake`, `worker`, `notifier` (or `other` for alarms of no stage).
    pub stage: &'static str,
    /// The queue the stage reads, if it reads one.
    pub queue: Option<QueueStatus>,
    /// How far behind its stream the stage is, in seconds (the notifier).
    pub iterator_age_secs: Option<u64>,
    /// The stage's dead-letter queue.
    pub dlq: Option<QueueStatus>,
    /// The stage's alarms.
    pub alarms: Vec<AlarmStatus>,
}

/// What `status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The target's label.
    pub target: String,
    /// Stages in pipeline order.
    pub stages: Vec<StageStatus>,
}

/// The stage an alarm belongs to, by its logical id's first word.
pub fn stage_of(logical_id: &str) -> &'static str {
    if logical_id.starts_with("Intake") || logical_id.starts_with("Api") {
        "intake"
    } else if logical_id.starts_with("Worker") || logical_id.starts_with("OrdersQueue") {
        "worker"
    } else if logical_id.starts_with("Notifier") || logical_id.starts_with("Notified") {
        "notifier"
    } else {
        "other"
    }
}

/// Reads every count and alarm of `target`.
pub async fn status(clients: &Clients, target: &Target) -> OpsResult<Status> {
    let orders = queue(clients, &target.orders_queue_url).await?;
    let worker_dlq = queue(clients, &target.worker_dlq_url).await?;
    let notifier_dlq = queue(clients, &target.notifier_dlq_url).await?;
    let iterator_age = match &target.notifier_function {
        Some(function) => {
            metric_max(
                clients,
                "AWS/Lambda",
                "IteratorAge",
                ("FunctionName", function),
            )
            .await
            // IteratorAge is in milliseconds.
            .map(|ms| ms / 1000)
        }
        None => None,
    };
    let alarms = alarms(clients, &target.alarms).await?;
    let of = |stage: &str| -> Vec<AlarmStatus> {
        alarms
            .iter()
            .filter(|a| stage_of(&a.logical_id) == stage)
            .cloned()
            .collect()
    };
    let mut stages = vec![
        StageStatus {
            stage: "intake",
            queue: None,
            iterator_age_secs: None,
            dlq: None,
            alarms: of("intake"),
        },
        StageStatus {
            stage: "worker",
            queue: Some(orders),
            iterator_age_secs: None,
            dlq: Some(worker_dlq),
            alarms: of("worker"),
        },
        StageStatus {
            stage: "notifier",
            queue: None,
            iterator_age_secs: iterator_age,
            dlq: Some(notifier_dlq),
            alarms: of("notifier"),
        },
    ];
    let other = of("other");
    if !other.is_empty() {
        stages.push(StageStatus {
            stage: "other",
            queue: None,
            iterator_age_secs: None,
            dlq: None,
            alarms: other,
        });
    }
    Ok(Status {
        target: target.label.clone(),
        stages,
    })
}

async fn queue(clients: &Clients, url: &str) -> OpsResult<QueueStatus> {
    let name = queue_name(url).to_owned();
    let out = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(aws("sqs:GetQueueAttributes", &format!("queue {name}")))?;
    let count = |attribute: QueueAttributeName| -> u64 {
        out.attributes()
            .and_then(|a| a.get(&attribute))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let oldest = metric_max(
        clients,
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        ("QueueName", &name),
    )
    .await;
    Ok(QueueStatus {
        visible: count(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        oldest_age_secs: oldest,
        name,
    })
}

/// The latest one-minute maximum of a metric over the last ten minutes;
/// `None` when CloudWatch has none or cannot be asked (a status screen shows
/// what it can).
async fn metric_max(
    clients: &Clients,
    namespace: &str,
    metric: &str,
    (dimension, value): (&str, &str),
) -> Option<u64> {
    let now = SystemTime::now();
    let out = clients
        .cloudwatch
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name(metric)
        .dimensions(Dimension::builder().name(dimension).value(value).build())
        .start_time((now - Duration::from_secs(600)).into())
        .end_time(now.into())
        .period(60)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .ok()?;
    let latest = out
        .datapoints()
        .iter()
        .filter(|d| d.maximum().is_some())
        .max_by_key(|d| d.timestamp().map(|t| t.secs()))?;
    let value = latest.maximum()?;
    // Metric values are non-negative whole seconds (or milliseconds).
    (value.is_finite() && value >= 0.0).then(|| value.round() as u64)
}

async fn alarms(clients: &Clients, alarms: &Alarms) -> OpsResult<Vec<AlarmStatus>> {
    let (names, prefix) = match alarms {
        Alarms::Named(names) if names.is_empty() => return Ok(Vec::new()),
        Alarms::Named(names) => (names.clone(), None),
        Alarms::Prefix(prefix) => (Vec::new(), Some(prefix.clone())),
    };
    let mut found = Vec::new();
    // DescribeAlarms takes at most 100 names per call.
    let chunks: Vec<Vec<(String, String)>> = if names.is_empty() {
        vec![Vec::new()]
    } else {
        names.chunks(100).map(<[_]>::to_vec).collect()
    };
    for chunk in chunks {
        let mut token: Option<String> = None;
        loop {
            let out = clients
                .cloudwatch
                .describe_alarms()
                .set_alarm_names((!chunk.is_empty()).then(|| {
                    chunk
                        .iter()
                        .map(|(_, name)| name.clone())
                        .collect::<Vec<_>>()
                }))
                .set_alarm_name_prefix(prefix.clone())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(aws("cloudwatch:DescribeAlarms", "the stack's alarms"))?;
            for alarm in out.metric_alarms() {
                let Some(name) = alarm.alarm_name() else {
                    continue;
                };
                let logical_id = match &prefix {
                    Some(prefix) => name.strip_prefix(prefix.as_str()).unwrap_or(name),
                    None => chunk
                        .iter()
                        .find(|(_, n)| n == name)
                        .map_or(name, |(logical, _)| logical.as_str()),
                };
                found.push(AlarmStatus {
                    logical_id: logical_id.to_owned(),
                    name: name.to_owned(),
                    state: alarm
                        .state_value()
                        .map_or_else(|| "UNKNOWN".to_owned(), |s| s.as_str().to_owned()),
                });
            }
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
    }
    found.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    Ok(found)
}

fn state_tone(state: &str) -> Tone {
    match state {
        "OK" => Tone::Good,
        "ALARM" => Tone::Bad,
        _ => Tone::Warn,
    }
}

/// The status as lines of text, for a terminal.
pub fn lines(status: &Status, style: Style) -> Vec<String> {
    let mut lines = vec![
        style.paint(&format!("orders pipeline: {}", status.target), Tone::Bold),
        style.paint(
            &format!(
                "{:<9} {:<32} {:>8} {:>9} {:>8} {:>6}  alarms",
                "stage", "queue", "visible", "in-flight", "oldest", "DLQ"
            ),
            Tone::Bold,
        ),
    ];
    for stage in &status.stages {
        let dash = || "-".to_owned();
        let (name, visible, in_flight, oldest) = match &stage.queue {
            Some(q) => (
                q.name.clone(),
                q.visible.to_string(),
                q.in_flight.to_string(),
                q.oldest_age_secs.map_or_else(|| "?".to_owned(), age),
            ),
            None if stage.stage == "notifier" => (
                "(table stream)".to_owned(),
                dash(),
                dash(),
                stage.iterator_age_secs.map_or_else(|| "?".to_owned(), age),
            ),
            None => (dash(), dash(), dash(), dash()),
        };
        let dlq = match &stage.dlq {
            Some(d) => {
                let depth = d.visible + d.in_flight;
                let text = format!("{depth:>6}");
                style.paint(&text, if depth > 0 { Tone::Bad } else { Tone::Good })
            }
            None => format!("{:>6}", "-"),
        };
        let firing: Vec<&AlarmStatus> = stage.alarms.iter().filter(|a| a.state != "OK").collect();
        let alarms = if stage.alarms.is_empty() {
            "none known".to_owned()
        } else if firing.is_empty() {
            style.paint(&format!("{} OK", stage.alarms.len()), Tone::Good)
        } else {
            firing
                .iter()
                .map(|a| {
                    format!(
                        "{} {}",
                        style.paint(&a.state, state_tone(&a.state)),
                        a.logical_id
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        lines.push(format!(
            "{:<9} {:<32} {:>8} {:>9} {:>8} {dlq}  {alarms}",
            stage.stage, name, visible, in_flight, oldest
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_belong_to_the_stage_their_logical_id_names() {
        assert_eq!(stage_of("WorkerDlqNotEmptyAlarm"), "worker");
        assert_eq!(stage_of("OrdersQueueAgeAlarm"), "worker");
        assert_eq!(stage_of("NotifierIteratorAgeAlarm"), "notifier");
        assert_eq!(stage_of("NotifiedLatencyAlarm"), "notifier");
        assert_eq!(stage_of("IntakeErrorsAlarm"), "intake");
        assert_eq!(stage_of("StatusErrorsAlarm"), "other");
    }

    #[test]
    fn a_firing_alarm_and_a_dlq_with_messages_are_on_the_stage_line() {
        let status = Status {
            target: "prefix p-".into(),
            stages: vec![StageStatus {
                stage: "worker",
                queue: Some(QueueStatus {
                    name: "p-orders.fifo".into(),
                    visible: 3,
                    in_flight: 1,
                    oldest_age_secs: Some(75),
                }),
                iterator_age_secs: None,
                dlq: Some(QueueStatus {
                    name: "p-orders-dlq.fifo".into(),
                    visible: 2,
                    in_flight: 0,
                    oldest_age_secs: None,
                }),
                alarms: vec![AlarmStatus {
                    logical_id: "WorkerDlqNotEmptyAlarm".into(),
                    name: "p-WorkerDlqNotEmptyAlarm".into(),
                    state: "ALARM".into(),
                }],
            }],
        };
        let lines = lines(&status, Style { color: false });
        let worker = &lines[2];
        assert!(worker.starts_with("worker    p-orders.fifo"), "{worker}");
        assert!(worker.contains(" 1m15s "), "{worker}");
        assert!(
            worker.contains("     2  ALARM WorkerDlqNotEmptyAlarm"),
            "{worker}"
        );
    }
}
