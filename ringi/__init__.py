"""ringi: durable request lifecycles for an industry secretariat."""
