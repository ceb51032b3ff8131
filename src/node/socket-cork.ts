import type net from 'node:net'
import { flushSocketAtEndOfTick, type Corked } from './end-of-tick.js'

/** Corks a socket for the rest of the tick in which data arrived (see `flushSocketAtEndOfTick`). */
export class SocketCork implements Corked {
  private corked = false
  constructor (private readonly socket: net.Socket) {}

  readonly onData = (): void => {
    if (this.corked) return
    this.corked = true
    this.socket.cork()
    flushSocketAtEndOfTick(this)
  }

  flushCork (): void {
    this.corked = false
    this.socket.uncork()
  }
}
