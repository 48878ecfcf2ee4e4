"""Resources, processes, probes, supervision and logs for `netscript up` (issue 5)."""
