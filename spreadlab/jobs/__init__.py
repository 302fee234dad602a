"""What strings the layers together: run or resume a scenario,
build the samples, calibrate, validate."""
