# Copyright (c) 2026, nomadic.qemu contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# A one-sector x86 test guest for QEMU (-machine pc and q35, TCG or KVM).
#
# It enables ACPI, arms the power button, prints
#     NOMADIC-GUEST READY bootsector
# on COM1, then idles (hlt, woken by the PIT at 100 Hz).  When the ACPI
# power button is pressed (QMP system_powerdown) it acknowledges the event,
# prints "NOMADIC-GUEST POWEROFF" and enters S5, so QEMU exits with status 0.
# If the byte at offset 0x1fd of the sector is not zero, it prints
# "NOMADIC-GUEST BUTTON IGNORED" instead and keeps running (a guest that
# ignores graceful shutdown, for kill timeout tests).
#
# Build (see bootsector.py, which embeds the result):
#     as --32 -o bootsector.o bootsector.S
#     ld -m elf_i386 -Ttext=0x7c00 -e _start -o bootsector.elf bootsector.o
#     objcopy -O binary -j .text bootsector.elf bootsector.bin
#
# Physical memory above 1 MiB (where SeaBIOS puts the ACPI tables) is read
# through FS in "unreal mode": FS gets a 4 GiB limit from a flat protected
# mode descriptor, then the CPU goes back to real mode keeping that limit.

        .code16
        .text
        .globl _start

        .set COM1, 0x3f8
        .set COM1_LSR, COM1 + 5
        .set LSR_THRE, 0x20
        .set SIG_RSD, 0x20445352        # "RSD "
        .set SIG_PTR, 0x20525450        # "PTR "
        .set SIG_FACP, 0x50434146       # "FACP"
        .set PWRBTN, 0x0100             # bit 8 of PM1_STS and PM1_EN
        .set SLP_S5, 0x2000             # SLP_EN | SLP_TYP=0 (S5 on QEMU)
        .set PIT_DIVISOR, 11932         # 1193182 Hz / 100

_start:
        cli
        cld
        xor     %ax, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     $0x7c00, %sp
        ljmp    $0, $main               # some BIOSes jump to 07c0:0000

main:
        # Fast A20 gate, so addresses with bit 20 set are not wrapped.
        in      $0x92, %al
        or      $0x02, %al
        and     $0xfe, %al              # never pulse the reset bit
        out     %al, $0x92

        # Unreal mode: load FS from a flat descriptor in protected mode,
        # then return to real mode with FS base 0 and a 4 GiB limit.
        lgdt    gdt_desc
        mov     %cr0, %eax
        or      $1, %al
        mov     %eax, %cr0
        mov     $8, %bx
        mov     %bx, %fs
        and     $0xfe, %al
        mov     %eax, %cr0
        xor     %bx, %bx
        mov     %bx, %fs

        # The RSDP sits on a 16-byte boundary in 0xe0000-0xfffff.
        mov     $0xe0000, %esi
find_rsdp:
        cmpl    $SIG_RSD, %fs:(%esi)
        jne     1f
        cmpl    $SIG_PTR, %fs:4(%esi)
        je      found_rsdp
1:      add     $16, %esi
        cmp     $0x100000, %esi
        jb      find_rsdp
        jmp     no_acpi

found_rsdp:
        # RSDT address at RSDP+16; RSDT length at +4, entries from +36.
        mov     %fs:16(%esi), %esi
        mov     %fs:4(%esi), %ecx
        sub     $36, %ecx
        shr     $2, %ecx
        jz      no_acpi
        add     $36, %esi
find_facp:
        mov     %fs:(%esi), %edi
        cmpl    $SIG_FACP, %fs:(%edi)
        je      found_facp
        add     $4, %esi
        loop    find_facp
        jmp     no_acpi

found_facp:
        # FADT: SMI_CMD at 48, ACPI_ENABLE at 52, PM1a_EVT_BLK at 56,
        # PM1a_CNT_BLK at 64.  I/O ports fit in 16 bits.
        mov     %fs:56(%edi), %ax
        mov     %ax, evt_port
        mov     %fs:64(%edi), %dx
        mov     %dx, cnt_port

        # SeaBIOS leaves ACPI off (SCI_EN, bit 0 of PM1_CNT, clear):
        # write ACPI_ENABLE to SMI_CMD.
        in      %dx, %ax
        test    $1, %al
        jnz     acpi_enabled
        mov     %fs:48(%edi), %dx
        mov     %fs:52(%edi), %al
        out     %al, %dx
acpi_enabled:

        # Clear a stale PWRBTN_STS (write one to clear), then set
        # PWRBTN_EN, or QEMU never latches a power button press.
        mov     evt_port, %dx
        mov     $PWRBTN, %ax
        out     %ax, %dx
        add     $2, %dx
        out     %ax, %dx

        # PIT channel 0, mode 2, 100 Hz: wakes the idle loop's hlt.
        mov     $0x34, %al
        out     %al, $0x43
        mov     $PIT_DIVISOR, %ax
        out     %al, $0x40
        mov     %ah, %al
        out     %al, $0x40

        # Only now announce readiness: a power button press sent from
        # here on is latched by QEMU and seen by the loop below.
        mov     $msg_ready, %si
        call    puts

idle:
        sti
        hlt
        mov     evt_port, %dx
        in      %dx, %ax
        test    $(PWRBTN >> 8), %ah
        jz      idle
        mov     $PWRBTN, %ax
        out     %ax, %dx                # acknowledge the press
        cmpb    $0, ignore_button
        jne     ignored
        mov     $msg_poweroff, %si
        call    puts
        mov     cnt_port, %dx
        mov     $SLP_S5, %ax
        out     %ax, %dx                # QEMU powers off here
halt:
        cli
        hlt
        jmp     halt

ignored:
        mov     $msg_ignored, %si
        call    puts
        jmp     idle

no_acpi:
        mov     $msg_no_acpi, %si
        call    puts
        jmp     halt

# Print the NUL-terminated string at DS:SI on COM1.
puts:
        lodsb
        test    %al, %al
        jz      2f
        mov     %al, %ah
        mov     $COM1_LSR, %dx
1:      in      %dx, %al
        test    $LSR_THRE, %al
        jz      1b
        mov     $COM1, %dx
        mov     %ah, %al
        out     %al, %dx
        jmp     puts
2:      ret

msg_ready:
        .asciz  "NOMADIC-GUEST READY bootsector\r\n"
msg_poweroff:
        .asciz  "NOMADIC-GUEST POWEROFF\r\n"
msg_ignored:
        .asciz  "NOMADIC-GUEST BUTTON IGNORED\r\n"
msg_no_acpi:
        .asciz  "NOMADIC-GUEST ERROR no ACPI tables\r\n"

        .p2align 3
gdt:
        .quad   0                       # null descriptor
        .quad   0x00cf92000000ffff      # data: base 0, limit 4 GiB, writable
gdt_desc:
        .word   gdt_desc - gdt - 1
        .long   gdt

evt_port:
        .word   0
cnt_port:
        .word   0

        .org    0x1fd
ignore_button:                          # patched to 1 in the variant image
        .byte   0
        .word   0xaa55                  # boot signature: bytes 0x55 0xaa
