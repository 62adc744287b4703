"""Dead-letter records: building them (worker side), inspecting and replaying them."""
