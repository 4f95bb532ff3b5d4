;; Claims the right interface and version but implements none of it.
(component
  (instance $i)
  (export "rampart:policy/questions@0.3.0" (instance $i))
)
