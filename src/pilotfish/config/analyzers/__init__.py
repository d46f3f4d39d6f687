"""The analyzers behind `pilotfish analyze`, one module per area, with Istio's codes and wording.

`messages` (AnalysisMessage, host helpers), `inventory` (the services and workloads the analysis
knows: from the inputs' manifest documents, Workload/WorkloadEntry, and the running mesh's
registry), `routes` (IST0130/IST0131), `security` (IST0113, IST0127), `destinations`
(IST0128/IST0129), `gateways` (IST0145, IST0162); `analyze` runs them all (`analyze(result,
inventory)`) and holds the reference checks. Pure: no I/O.
"""
