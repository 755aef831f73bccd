"""Prints the RTPS submessages of a pcap (from tools/rtps_capture.py) one packet a line, for want of tshark:
DATA (writer/reader entity, sequence number, inline QoS; coherent-set and group PIDs decoded), HEARTBEAT, GAP,
ACKNACK, RTI's HEARTBEAT_VIRTUAL (0x1e). `-u` leaves out the built-in (discovery) endpoints.

    python3 tools/rtps_decode.py CAPTURE.pcap [-u]
"""
import re
import struct
import sys

names = {0x15:'DATA',0x16:'DATA_FRAG',0x07:'HEARTBEAT',0x08:'GAP',0x06:'ACKNACK',0x09:'INFO_TS',0x0e:'INFO_DST',0x0c:'INFO_SRC',0x12:'NACK_FRAG',0x13:'HB_FRAG',0x01:'PAD'}
def sn(b,o,e): h,l=struct.unpack_from(e+'iI',b,o); return (h<<32)|l
def eid(b,o): return b[o:o+4].hex()
f=open(sys.argv[1],'rb').read()
o=24; t0=None
onlyuser = '-u' in sys.argv
while o < len(f):
    ts,us,il,ol=struct.unpack_from('<IIII',f,o); o+=16; pkt=f[o:o+il]; o+=il
    t=ts+us/1e6; t0=t0 or t
    if pkt[12:14]!=b'\x08\x00': continue
    ihl=(pkt[14]&15)*4; ip=pkt[14:]; udp=ip[ihl:]; sport,dport=struct.unpack('>HH',udp[:4]); r=udp[8:]
    if r[:4]!=b'RTPS': continue
    src=r[8:20].hex()[-8:]; vendor=r[6:8].hex()
    p=20; line=[]
    while p+4<=len(r):
        kind,flags,ln=r[p],r[p+1],None
        e='<' if flags&1 else '>'
        ln=struct.unpack_from(e+'H',r,p+2)[0]; b=p+4
        nm=names.get(kind,hex(kind))
        if kind==0x15:
            ex=struct.unpack_from(e+'H',r,b+2)[0]; rid=eid(r,b+4); wid=eid(r,b+8); s=sn(r,b+12,e)
            info='DATA w=%s r=%s sn=%d'%(wid,rid,s)
            if flags&2:
                q=b+4+ex; pids=[]
                while True:
                    pid,pl=struct.unpack_from(e+'HH',r,q)
                    if pid==1: break
                    v=r[q+4:q+4+pl]
                    if pid in (0x56,0x63,0x64): pids.append('%04x=%d'%(pid,sn(v,0,e)))
                    else: pids.append('%04x:%s'%(pid,v.hex()))
                    q+=4+pl
                info+=' Q['+' '.join(pids)+']'
            info+=' D' if flags&4 else ''
            info+=' K' if flags&8 else ''
            line.append(info)
        elif kind==0x07:
            rid=eid(r,b); wid=eid(r,b+4); f1=sn(r,b+8,e); l1=sn(r,b+16,e); c=struct.unpack_from(e+'I',r,b+24)[0]
            info='HB w=%s r=%s [%d,%d] c=%d fl=%02x len=%d'%(wid,rid,f1,l1,c,flags,ln)
            if ln>28: info+=' extra='+r[b+28:b+ln].hex()
            line.append(info)
        elif kind==0x08:
            rid=eid(r,b); wid=eid(r,b+4); gs=sn(r,b+8,e); base=sn(r,b+16,e); nb=struct.unpack_from(e+'I',r,b+24)[0]
            info='GAP w=%s r=%s start=%d base=%d nbits=%d fl=%02x len=%d'%(wid,rid,gs,base,nb,flags,ln)
            nw=(nb+31)//32
            if ln>28+4*nw: info+=' extra='+r[b+28+4*nw:b+ln].hex()
            line.append(info)
        elif kind==0x06:
            rid=eid(r,b); wid=eid(r,b+4); base=sn(r,b+8,e); nb=struct.unpack_from(e+'I',r,b+16)[0]
            line.append('ACKNACK w=%s r=%s base=%d nbits=%d fl=%02x'%(wid,rid,base,nb,flags))
        elif kind==0x1e and ln>=64:
            # RTI's HEARTBEAT_VIRTUAL (one virtual GUID, one writer): vGUID, writers, virtual SN and RTPS SN ranges.
            rid=eid(r,b); wid=eid(r,b+4); vg=r[b+8:b+24].hex(); nw=struct.unpack_from(e+'I',r,b+24)[0]
            v1=sn(r,b+28,e); v2=sn(r,b+36,e); s1=sn(r,b+44,e); s2=sn(r,b+52,e); c=struct.unpack_from(e+'I',r,b+ln-4)[0]
            line.append('HB_VIRTUAL w=%s r=%s vguid=%s writers=%d v[%d,%d] sn[%d,%d] c=%d fl=%02x'%(wid,rid,vg,nw,v1,v2,s1,s2,c,flags))
        elif kind in (0x09,0x0e,0x0c,0x01):
            pass
        else:
            line.append('%s fl=%02x len=%d'%(nm,flags,ln))
        if ln==0 and kind not in (0x01,0x09): break
        p=b+ln
    if onlyuser:
        # Built-in endpoints have an entity kind with both top bits set (0xc2, 0xc7, ...).
        line = [x for x in line if not re.search(r"w=[0-9a-f]{6}[c-f][0-9a-f]", x)]
    if line: print('%7.3f %s v=%s %d->%d | %s'%(t-t0,src,vendor,sport,dport,' ; '.join(line)))
