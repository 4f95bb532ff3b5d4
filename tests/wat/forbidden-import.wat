;; A component that imports TCP sockets: the host never grants them.
(component
  (import "wasi:sockets/tcp@0.2.0" (instance))
  (instance $i)
  (export "rampart:policy/questions@0.3.0" (instance $i))
)
