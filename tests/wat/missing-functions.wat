;; Claims the right interface and version but implements none of it.
(component
  (instance $i)
  (export "rampart:policy/questions@0.2.0" (instance $i))
)
