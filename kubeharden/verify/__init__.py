"""Verification engine: prove a host's hardening with evidence.

Collect each host's state once over SSH (collect, remote), probe what the network sees (probes), judge every
control of the catalog locally (state, judge), and report PASS/FAIL/WARN/SKIP with observed value, expected value
and remediation (results, report). runner ties them together; cli is the `kubeharden verify` command.
"""
