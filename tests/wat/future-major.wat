;; A component built for a future, incompatible contract version.
(component
  (instance $i)
  (export "rampart:policy/questions@9.0.0" (instance $i))
)
