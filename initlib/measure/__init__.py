"""Measurement: one hook core, probes, propagation, training, audits, LSUV and the width tools."""
