;; A valid component of some other world: it exports nothing Rampart asks.
(component
  (instance $i)
  (export "acme:thermostat/control@1.0.0" (instance $i))
)
