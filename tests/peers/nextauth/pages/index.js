// Placeholder page: the peer is about /api/auth/* (next-auth) and /socket.io/.
export default function Home() {
  return <p>Kith Next-Auth test peer</p>;
}
