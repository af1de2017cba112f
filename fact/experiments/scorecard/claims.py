"""The paper's claims, and ours (``our_claims``), in the order the scorecard lists them: each with
the rule that decides from our results whether it holds (``verdicts``: how a rule grades its
checks). The thresholds are written in each rule's text, printed in the scorecard beside the verdict."""

from __future__ import annotations

from fact.experiments.scorecard.network_claims import FIG7_CLAIMS, NETWORK_CLAIMS
from fact.experiments.scorecard.our_claims import OUR_CLAIMS
from fact.experiments.scorecard.rfm_claims import TABLE1_CLAIMS, TASK_CLAIMS

CLAIMS = [*TABLE1_CLAIMS, *FIG7_CLAIMS, *TASK_CLAIMS, *NETWORK_CLAIMS, *OUR_CLAIMS]
