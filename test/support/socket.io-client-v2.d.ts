/** The part of socket.io-client 2.x (which ships no types) that the Stelace tests use. */
declare module 'socket.io-client-v2' {
  interface Packet {
    type: number;
    nsp: string;
    id?: number;
    data?: unknown[];
  }
  interface Socket {
    id: string;
    connected: boolean;
    on(event: string, listener: (...args: unknown[]) => void): Socket;
    emit(event: string, ...args: unknown[]): Socket;
    close(): Socket;
    /** Internal: receives every server event packet; the 2.x client has no onAny. */
    onevent(packet: Packet): void;
  }
  function io(url: string, options?: Record<string, unknown>): Socket;
  export default io;
}
