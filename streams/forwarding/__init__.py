"""Forwarding the alerts topic to the on-call stack: Alertmanager's v2 API and a generic webhook.

``driftline alerts forward`` runs `ForwardAgent` in its own consumer group: each alert record is
delivered to every configured receiver, in partition order, and its offset is committed only once
every receiver acknowledged it or refused it for good (a refusal becomes a dead letter with the
receiver's answer). A receiver that is down blocks the partition, retried with capped backoff, so
the alerts of one dedup key (one partition) are never lost nor reordered.

* `delivery` — one HTTP POST and what its answer means: delivered, retry, refused;
* `alertmanager` — an alert CloudEvent as an Alertmanager alert, the open alerts it holds, and
  their periodic re-sending;
* `webhook` — the CloudEvent posted as it is, signed with HMAC-SHA256;
* `agent` — the consumer loop: order, retries, dead letters, commits;
* `service` — the command's process: settings checked, probes served, the agent supervised.
"""

from driftline.streams.forwarding.agent import ForwardAgent
from driftline.streams.forwarding.alertmanager import AlertmanagerReceiver, OpenAlerts
from driftline.streams.forwarding.delivery import Answer, ForwardedAlert, Receiver
from driftline.streams.forwarding.webhook import WebhookReceiver

__all__ = ["AlertmanagerReceiver", "Answer", "ForwardAgent", "ForwardedAlert", "OpenAlerts", "Receiver",
           "WebhookReceiver"]
