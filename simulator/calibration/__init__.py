"""Calibrating a cost model to the user's own claims (``vbcsim calibrate``, ``vbcsim members``).

Entry points, in pipeline order:

- :func:`simulator.calibration.extract.read_extract`: the claims extract (CSV or Parquet,
  one row per member and year; ``--columns`` renames);
- :func:`simulator.calibration.checks.run_checks`: data checks (ASOP No. 23), each with a
  count and a warning or a refusal;
- :func:`simulator.calibration.estimate.calibrate`: latent cost bands by maximum likelihood,
  transition rows shrunk toward a prior with reported credibility, churn, trend, group mix;
- :func:`simulator.calibration.to_toml.calibration_toml`: the commented ``[cost_models.NAME]``
  table;
- :func:`simulator.calibration.report.write_fit_report`: observed vs simulated statistics
  and plots (``--report DIR``);
- :func:`simulator.calibration.members.simulate_members`: member-years of a cost model in the
  extract format (``vbcsim members``).

Separately, :mod:`simulator.calibration.mssp` estimates the pricing and year-level
uncertainty of the cost level from the MSSP's published results per ACO and year
(``data/mssp/``) and checks the model's savings-rate spread by size against them.
"""
