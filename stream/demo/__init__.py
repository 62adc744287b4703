"""The ``make demo`` job: embedded broker, simulator (or real Claude), sample corpus."""
